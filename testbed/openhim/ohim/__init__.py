"""openHIM (openhim-core-js v8) stand-in: router + API. Python 3.11 stdlib only."""
