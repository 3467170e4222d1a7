"""Promoted models: refit from a trial, checked against its facts, stored with a card."""
