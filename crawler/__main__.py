from loomwatch.crawler.cli import main

main()
