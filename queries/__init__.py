"""SQL files of the warehouse (staging views, marts, named analyses) and the loader that runs them."""

from queries.loader import Param, Query, QueryError, bind_params, get_query, list_queries, run_query

__all__ = ["Param", "Query", "QueryError", "bind_params", "get_query", "list_queries", "run_query"]
