"""Fault tests (issue 5, item 2): each starts what it needs, and the list below is the
issue's, fault by fault.

- The database restarts under traffic (503 problem+json with Retry-After meanwhile, recovery
  without a restart): test_database_restart.py
  ::test_the_database_restarts_under_traffic_and_the_service_recovers_by_itself, and, the
  database staying up while a run's connection is cut,
  ::test_a_connection_cut_mid_run_leaves_the_run_to_be_resumed_not_failed; the database
  ending the service's connections again and again under COPY writes and a backfill:
  test_connection_cuts.py
  ::test_connections_cut_under_copy_writes_answer_503_and_lose_nothing.
- A process is killed (SIGKILL) during a run, the next start resumes it to the clean
  result: test_processes.py::test_a_backfill_killed_mid_run_is_resumed_to_the_clean_result.
- Two processes with schedulers share a database for many forced ticks, one run per
  occurrence: test_processes.py
  ::test_two_replicas_ticking_every_second_run_each_occurrence_once.
- An external API source that hangs, returns 500s or garbage, bounded by timeouts and
  retries, the run ends `partial` with everything else stored: test_api_source.py
  ::test_hanging_failing_and_garbage_subjects_fail_alone_and_the_run_goes_on.
- User SQL with pg_sleep, a write, DDL, `; COMMIT;`, set_config or a huge result, refused
  or cut at the timeout / row cap while the run goes on: test_user_sql.py
  ::test_hostile_sql_is_refused_when_saved and
  ::test_hostile_sql_in_a_run_is_cut_and_the_run_goes_on.
- Graceful shutdown (SIGTERM): in-flight requests finish, a running calculation stops at a
  safe point and is resumable: test_graceful_shutdown.py
  ::test_sigterm_lets_the_request_finish_and_leaves_the_run_resumable_at_once, and
  ::test_a_request_outlasting_the_grace_is_cut_and_the_process_still_exits.

Unit-level neighbours: tests/calculators/test_api_http_json.py (each source failure alone),
tests/calculators/test_query_sandbox.py and test_sql_guard.py (the sandbox and the parser),
tests/measurements/test_runs.py (resumption inside one process).
"""
