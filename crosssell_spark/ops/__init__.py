"""Operations on the published tables, run beside the pipeline rather than as a stage of it.

maintenance.py   OPTIMIZE (compaction, optional Z-order) and VACUUM of every published table
forget.py        delete users' rows from every user-level table, logged by pseudonym
"""
