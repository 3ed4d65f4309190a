"""The blind arena's records and leaderboard: votes between two targets shown as A and B, and the
Bradley–Terry ratings, intervals and counts ranked from them. Plain data and maths: no Textual,
no vLLM, so the same numbers serve the UI, a file and the tests."""
