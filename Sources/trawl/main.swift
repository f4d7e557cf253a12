import TrawlApp

await TrawlMain.run()
