"""One option model per job (type, default, help, choices, validation, flags, argv) and the registry of jobs."""
