"""Pure business rules: plain values in, plain values out.

Nothing here imports Flask, SQLAlchemy or Stripe, and nothing reads the clock: callers pass ``today``.
Services turn rows into these values and back (DESIGN §8).
"""
