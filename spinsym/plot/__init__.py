"""Figures (matplotlib, Agg backend).  One module per kind of figure; shared style in style.py."""
