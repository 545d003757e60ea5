#!/usr/bin/env python3
"""nothp.py PROGRAM ARGS...: runs PROGRAM with prctl(PR_SET_THP_DISABLE) set, i.e. transparent
hugepages "never" for that process only (the flag is inherited across exec), without touching
/sys/kernel/mm/transparent_hugepage."""
import ctypes, os, sys

PR_SET_THP_DISABLE = 41
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_THP_DISABLE) failed: errno {ctypes.get_errno()}")
os.execvp(sys.argv[1], sys.argv[1:])
