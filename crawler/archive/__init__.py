"""The archive as analysts open it: Datasette with loomwatch's plugin (Chinese search, the
cluster facet, the article page, feeds), its metadata and canned queries, and the dashboard
(`loomwatch serve`). The files Datasette reads are in `datasette/`."""
