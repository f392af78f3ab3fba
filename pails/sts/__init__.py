"""The STS Query API (docs/iam.md): GetCallerIdentity, GetSessionToken and
AssumeRole, answered with temporary credentials.  A session token is the
session itself, sealed with the master key (``pails.storage.crypto``): the
secret, the expiry, the account and the user or role it stands for, and the
session policy.  No state is stored; the engine opens the token of each
request that carries one (``Engine.session_principal``)."""
