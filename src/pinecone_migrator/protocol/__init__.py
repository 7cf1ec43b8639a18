"""The gRPC data plane's messages (``vector_service.proto`` and the module ``make protos`` generates from
it), shared by the local server and the Pinecone store's gRPC transport, which must not import each other."""
