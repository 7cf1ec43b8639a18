"""The data plane over gRPC: Pinecone's ``VectorService``, one listener per index (``serve --grpc-port``)."""
