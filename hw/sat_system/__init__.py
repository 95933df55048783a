"""The SAT accelerator system: the top, its controller and units (issue 10)."""
