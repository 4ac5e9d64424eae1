"""What the testbed's stand-ins share (Python 3.11 standard library only).

- server: the threaded HTTP/1.1 server and handler base (bodies, JSON answers, limits, ready
  files, serving until SIGTERM), the admin path prefix (/$testbed/), faults applied to requests;
- faults: the one fault language (common fields, common kinds, the registry behind
  /$testbed/faults) that each stand-in extends with its own kinds;
- auth: Basic credentials, bearer schemes, JWT HS256 and the tokens issued with it.

The stand-ins put testbed/ on sys.path and import `standin_core`. See README.md here.
"""
