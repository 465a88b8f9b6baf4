"""Predictive dialer core for consumer-finance outreach on Asterisk."""

__version__ = "0.1.0"
