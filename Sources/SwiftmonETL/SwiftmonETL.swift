// Windows ETW .etl decoding: see EtlFile.
