"""The workflow engine: events → matching → runs → steps, with a trace of everything done."""
