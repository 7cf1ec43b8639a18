"""A source that cannot list its IDs (a pod-based Pinecone index) made listable by sweeping it with queries.

Pod-based indexes have no ``list``; the only read that enumerates them without writing to them is a query.
:class:`SweptSource` (:mod:`.source`) wraps such a store and discovers its IDs with repeated ID-only queries
(``top_k`` up to 10,000, no values or metadata, so that the 4 MB response limit holds and Pinecone does not
cap ``top_k`` at 1,000), each with another query vector (:mod:`.vectors`: random vectors and their
opposites, the vectors of records already found, and for sparse indexes vectors from fetched indices and
blocks of consecutive indices). Once a query comes back full and the sampled metadata has a field that
splits the records into a few parts (a field with few values, or a numeric field cut at its quantiles), the
same queries run again within each part, as a metadata filter (:mod:`.partitions`): a part smaller than
``top_k`` comes back whole in one query, a part that stays larger is split again by another field (up to
three levels).

Every ID found goes to a local SQLite file (:mod:`.state`: memory stays bounded, a stopped sweep resumes).
The sweep of a namespace (:mod:`.sweep`) ends when the number of distinct IDs found equals the namespace's
count from ``describe_index_stats`` (read again at that moment: the count can lag behind writes), which is
the only proof of completeness it claims; or when ``patience`` consecutive queries found nothing new, or the
query budget ran out: then the report says found/expected and ``proven`` False. :meth:`SweptSource.list_ids`
serves the IDs found, in bytewise order with a resumable cursor, only once the namespace's sweep has
finished: a listing must not grow behind a cursor the engine has already passed. By default it refuses a
namespace whose completeness was not proven (``require_proven``).
"""

from .partitions import choose_partitions
from .source import IncompleteSweep, SweptSource
from .state import SweepReport
from .sweep import SweepableStore, SweepInterrupted

__all__ = [
    "IncompleteSweep",
    "SweepInterrupted",
    "SweepReport",
    "SweepableStore",
    "SweptSource",
    "choose_partitions",
]
