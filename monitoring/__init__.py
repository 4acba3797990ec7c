"""Monitoring: the in-session record (checks, doses, vitals, scales, events), discharge, REMS form."""
