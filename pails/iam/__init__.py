"""The IAM Query API (docs/iam.md): form-encoded POSTs to the service URL
whose SigV4 credential scope names ``iam``, answered with AWS's XML.

``query_api`` parses the form and dispatches on ``Action`` through the table
in ``actions``; each area has its module (``users`` with access keys,
``groups``, ``roles``, ``policies`` for inline and managed policies and
attachments, ``account``); ``model`` holds the pure rules (names, ids,
ARNs, limits) and ``render`` the XML."""
