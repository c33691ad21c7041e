"""Daytona compatibility: the REST contract Daytona's SDK (`daytona`, AsyncDaytona) speaks, so SUNA runs on Runyard
by configuration alone (DAYTONA_API_URL=<runyard>/daytona/api, DAYTONA_API_KEY=<runyard key>)."""
