from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PackedSparseValues(_message.Message):
    __slots__ = ("indices", "values")
    INDICES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    indices: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, indices: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class PackedVector(_message.Message):
    __slots__ = ("id", "values", "metadata", "sparse_values")
    ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SPARSE_VALUES_FIELD_NUMBER: _ClassVar[int]
    id: str
    values: bytes
    metadata: _struct_pb2.Struct
    sparse_values: PackedSparseValues
    def __init__(self, id: _Optional[str] = ..., values: _Optional[bytes] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., sparse_values: _Optional[_Union[PackedSparseValues, _Mapping]] = ...) -> None: ...

class PackedPagination(_message.Message):
    __slots__ = ("next",)
    NEXT_FIELD_NUMBER: _ClassVar[int]
    next: str
    def __init__(self, next: _Optional[str] = ...) -> None: ...

class PackedRecords(_message.Message):
    __slots__ = ("vectors", "namespace", "pagination")
    class VectorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PackedVector
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PackedVector, _Mapping]] = ...) -> None: ...
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.MessageMap[str, PackedVector]
    namespace: str
    pagination: PackedPagination
    def __init__(self, vectors: _Optional[_Mapping[str, PackedVector]] = ..., namespace: _Optional[str] = ..., pagination: _Optional[_Union[PackedPagination, _Mapping]] = ...) -> None: ...
