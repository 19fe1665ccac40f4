"""Thin adapters to the outside world: PDF (WeasyPrint), Stripe, mail."""
