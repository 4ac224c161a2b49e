"""The lake: the Parquet layout ``derma export`` writes, and the engines (DuckDB, Spark) that run the product on it.

``transpile`` turns the product's DuckDB SQL into the other engines' dialects; ``layout`` reads and
writes the lake's folders and manifest; ``engines`` opens an engine over a lake or a warehouse;
``marts`` builds the marts on an engine; ``fitting`` fits the models from aggregates the engine computes.
"""
