"""Storage engine: the metadata store, the blob store and the commit protocol."""
