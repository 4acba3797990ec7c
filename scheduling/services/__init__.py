"""Every write of the scheduling app: treatment types, availability, bookings, series, lifecycle."""
