"""Storage engine: the metadata store interface (``meta``), one subpackage per
store (``sqlite``, ``postgres``), the blob store and the commit protocol."""
