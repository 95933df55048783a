"""Command-line interface of sparsa (thin: it calls hw, models, sim and reports)."""
