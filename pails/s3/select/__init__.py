"""S3 Select (SelectObjectContent): SQL over CSV, JSON and Parquet objects.

Pure modules, each unit-tested: ``sql`` (lexer and parser to an AST),
``compiler`` (the AST to Python closures run per record), ``functions``
(string, date and cast functions), ``readers`` (records from a byte stream),
``writers`` (CSV/JSON output), ``eventstream`` (AWS's event-stream framing),
``config`` (the request XML).  ``handler`` is the thin HTTP operation.
"""
