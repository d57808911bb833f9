"""The item pipeline, one stage per module, in this order:

1. extract  (pipelines/extract.py)   bytes → decoded HTML → title, text, date, author
2. language (pipelines/language.py)  ISO language code
3. clusters (pipelines/clusters.py)  textile relevance and cluster tags
4. dedup    (pipelines/dedup.py)     exact and near-duplicate detection
5. store    (pipelines/store.py)     one transaction per batch of complete articles

Stages 1–3 (and the dedup signature) run in worker processes through
pipelines/analyse.py; stages 4–5 run in the crawl process, against the database.
"""
