"""The built-in sample world: a seeded, realistic shop written as raw input files plus its ground truth.

Layout under the target folder:
  events/part-NNNNN.parquet       raw events (schemas.RAW_EVENTS_SCHEMA, all strings), dirt included
  catalogue/part-00000.parquet    raw items (schemas.RAW_ITEMS_SCHEMA, all strings), dirt included
  truth/category_tree.parquet     category_path, level, is_leaf
  truth/user_preferences.parquet  user_id, category_path (level 2), weight
  truth/complements.parquet       anchor/complement item ids and leaf paths, kind (content | behavioural)
  truth/dirt.json                 exact count of every planted defect and the expected clean counts
  manifest.json                   spec, counts, generator version; written last, marks a complete world
"""

from crosssell_spark.sources.sample_world.spec import SampleWorldSpec
from crosssell_spark.sources.sample_world.writer import ensure_generated, generate, read_manifest

__all__ = ["SampleWorldSpec", "ensure_generated", "generate", "read_manifest"]
