"""Delivery: the monthly reports and the alerts by e-mail (and the alerts to a webhook), to the right people only."""
