"""Trace analyses as small functions taking a DuckDB connection and returning DataFrames."""
