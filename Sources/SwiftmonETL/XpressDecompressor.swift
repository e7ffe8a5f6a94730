/// The "plain LZ77" variant of XPRESS ([MS-XCA] section 2.4), which Windows uses
/// for the buffers of relogged or compressed .etl files.
///
/// The stream is groups of 32 items preceded by a 32-bit flag word (most
/// significant bit first): a 0 flag is one literal byte, a 1 flag a 16-bit match
/// token (length in the low 3 bits, distance - 1 in the high 13) whose length
/// may continue in a shared half byte, a byte, a 16-bit or a 32-bit field.
public enum XpressDecompressor {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// A match refers to data before the start of the output.
        case distanceBeforeStart(inputOffset: Int)
        /// The stream ended inside a token or a length field.
        case truncated(inputOffset: Int)
        /// The output would grow beyond the allowed size.
        case outputTooLarge(limit: Int)
        /// An extended length field holds a value the format does not allow.
        case badLength(inputOffset: Int)

        public var description: String {
            switch self {
            case .distanceBeforeStart(let o): return "XPRESS match refers before the output start (input offset \(o))"
            case .truncated(let o): return "XPRESS stream ends inside a token (input offset \(o))"
            case .outputTooLarge(let l): return "XPRESS output exceeds \(l) bytes"
            case .badLength(let o): return "XPRESS length field is invalid (input offset \(o))"
            }
        }
    }

    /// Decompresses `input`, producing at most `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        let capacity = max(0, limit)
        var failure: Failure?
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            input.withUnsafeBytes { raw in
                do throws(Failure) { count = try decompress(raw, into: UnsafeMutableRawBufferPointer(buffer)) } catch {
                    failure = error
                    count = 0
                }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Decompresses `input` into `output`; returns the number of bytes written.
    /// The output's size is the limit: a stream that would write more fails.
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        let n = input.count
        let limit = output.count
        var outPos = 0
        var inPos = 0
        var flags: UInt32 = 0
        var flagCount = 0
        var halfBytePos = -1  // where the unused upper half of a shared length byte sits
        while true {
            if flagCount == 0 {
                // Fewer than four bytes left for a flag word: the stream is done.
                if n - inPos < 4 { return outPos }
                flags = input.loadLE(UInt32.self, inPos)
                inPos += 4
                flagCount = 32
            }
            flagCount -= 1
            if flags & (1 << UInt32(flagCount)) == 0 {
                if inPos >= n { return outPos }
                guard outPos < limit else { throw .outputTooLarge(limit: limit) }
                output[outPos] = input[inPos]
                outPos += 1
                inPos += 1
                continue
            }
            if inPos == n { return outPos }
            guard n - inPos >= 2 else { throw .truncated(inputOffset: inPos) }
            let token = Int(input.loadLE(UInt16.self, inPos))
            inPos += 2
            let distance = token >> 3 + 1
            var length = token & 7
            if length == 7 {
                if halfBytePos < 0 {
                    guard inPos < n else { throw .truncated(inputOffset: inPos) }
                    length = Int(input[inPos] & 15)
                    halfBytePos = inPos
                    inPos += 1
                } else {
                    length = Int(input[halfBytePos] >> 4)
                    halfBytePos = -1
                }
                if length == 15 {
                    guard inPos < n else { throw .truncated(inputOffset: inPos) }
                    length = Int(input[inPos])
                    inPos += 1
                    if length == 255 {
                        let field = inPos
                        guard n - inPos >= 2 else { throw .truncated(inputOffset: inPos) }
                        length = Int(input.loadLE(UInt16.self, inPos))
                        inPos += 2
                        if length == 0 {
                            guard n - inPos >= 4 else { throw .truncated(inputOffset: inPos) }
                            length = Int(input.loadLE(UInt32.self, inPos))
                            inPos += 4
                        }
                        guard length >= 15 + 7 else { throw .badLength(inputOffset: field) }
                        length -= 15 + 7
                    }
                    length += 15
                }
                length += 7
            }
            length += 3
            guard distance <= outPos else { throw .distanceBeforeStart(inputOffset: inPos - 2) }
            guard length <= limit - outPos else { throw .outputTooLarge(limit: limit) }
            if distance >= length {
                // No overlap: one block copy.
                let base = output.baseAddress!
                (base + outPos).copyMemory(from: base + (outPos - distance), byteCount: length)
                outPos += length
            } else {
                // Overlapping match (run-length use): byte by byte, in order.
                var from = outPos - distance
                for _ in 0..<length {
                    output[outPos] = output[from]
                    outPos += 1
                    from += 1
                }
            }
        }
    }
}
