"""exsim's example strategies, importable as ``exsim_examples`` (and by short name on the
command line: ``exsim replay FILE --strategy holder``)."""
