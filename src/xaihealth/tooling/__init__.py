"""Build tools behind the Makefile: lab generation, notebook execution, slides and the benchmark."""
