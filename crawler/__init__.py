"""loomwatch's application layer: CLI, configuration, crawl orchestration, digest, scheduler."""
