"""Fetching and discovery: the spider that reads listing pages, feeds and sitemaps."""
