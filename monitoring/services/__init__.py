"""Every write of the monitoring app: the record, doses, observations, amendments, discharge."""
