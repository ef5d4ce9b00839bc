//! Contract 0.2.0 features of the sunshine adapter against its simulator, over real HTTP (filled by the port).
