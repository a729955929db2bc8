"""Helpers the tests share, by what they hold; fixtures stay in the conftest.py files."""
