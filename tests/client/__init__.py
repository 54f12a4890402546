"""Client tests: the client, its engine and the command line, against the fake or a scripted server."""
