"""Client tests: the client, its engine and the command line, on the fake or a scripted server."""
