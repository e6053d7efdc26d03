// A wasi-nn guest written the WasmEdge way, to check that such guests run unchanged on Atoll's
// host: a WASI command (`_start`) that reads a .tflite model from the file system, loads it with
// `wasi_ephemeral_nn.load` (encoding tensorflowlite, target cpu), runs one frame and prints the
// output's f32 bit patterns, one per line. The imports and the tensor record are declared as in
// the Rust `wasi-nn` crate's generated bindings (the type is a u8 newtype there, so bytes 9–11 of
// the record are padding).
//
//	rustc --target wasm32-wasi --edition 2021 -C opt-level=3 -o wasmedge-yamnet.wasm wasmedge_yamnet.rs
//	wasmedge --dir .:. wasmedge-yamnet.wasm yamnet.tflite frames.f32 0
use std::env;
use std::fs;
use std::process;

#[repr(C)]
struct Tensor {
    dimensions: *const u32,
    dimensions_len: usize,
    r#type: u8,
    data: *const u8,
    data_len: usize,
}

#[allow(improper_ctypes)] // &[u8] is (ptr, len) on wasm32: the graph_builder layout, as the wasi-nn crate passes it
#[link(wasm_import_module = "wasi_ephemeral_nn")]
extern "C" {
    fn load(builder: *const &[u8], builder_len: usize, encoding: u32, target: u32, graph: *mut u32) -> u32;
    fn init_execution_context(graph: u32, ctx: *mut u32) -> u32;
    fn set_input(ctx: u32, index: u32, tensor: *const Tensor) -> u32;
    fn compute(ctx: u32) -> u32;
    fn get_output(ctx: u32, index: u32, out: *mut u8, out_max: u32, written: *mut u32) -> u32;
}

fn check(what: &str, errno: u32) {
    if errno != 0 {
        eprintln!("{}: wasi-nn errno {}", what, errno);
        process::exit(1);
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} model.tflite frames.f32 index", args[0]);
        process::exit(2);
    }
    let model = fs::read(&args[1]).expect("read model");
    let frames = fs::read(&args[2]).expect("read frames");
    let index: usize = args[3].parse().expect("frame index");
    const N: usize = 15600;
    let frame = &frames[index * N * 4..(index + 1) * N * 4];
    let builders: [&[u8]; 1] = [&model];
    let mut graph = 0u32;
    let mut ctx = 0u32;
    unsafe {
        check("load", load(builders.as_ptr(), 1, 4, 0, &mut graph));
        check("init_execution_context", init_execution_context(graph, &mut ctx));
        let dims = [1u32, N as u32];
        let t = Tensor { dimensions: dims.as_ptr(), dimensions_len: 2, r#type: 1, data: frame.as_ptr(), data_len: frame.len() };
        check("set_input", set_input(ctx, 0, &t));
        check("compute", compute(ctx));
        let mut out = vec![0u8; 521 * 4];
        let mut written = 0u32;
        check("get_output", get_output(ctx, 0, out.as_mut_ptr(), out.len() as u32, &mut written));
        for k in 0..(written as usize / 4) {
            let b = [out[4 * k], out[4 * k + 1], out[4 * k + 2], out[4 * k + 3]];
            println!("{:08x}", u32::from_le_bytes(b));
        }
    }
}
