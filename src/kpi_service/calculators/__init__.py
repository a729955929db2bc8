"""Calculators: values for many subjects of one definition and one period at once."""
