"""What the seed commands build, by stage (the commands in config/management/commands/ only
parse their options and call these).

seed_scale, bulk data for the benchmarks, in the order it runs (`scale.seed`):
- `context`: the run's random generator, day of reference and author, and the batched
  bulk insert with history that every stage writes through;
- `reference`: users, regions and platform releases;
- `plans`: each partner's standing profile and terms, each license's kind and state, drawn
  before anything is written;
- `partners`: partners, contacts, terms, compliance incidents and opportunities;
- `licenses`: infrastructures, environments, licenses and extensions;
- `ipp`: applications, deployment permissions and deployment checks;
- `due`: the licenses due on a day, for the nightly benchmark.

seed_demo, the hand-made demo data set: `demo` holds its tables.
"""
