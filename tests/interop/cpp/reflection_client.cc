// A gRPC C++ server reflection client: what grpcurl and grpc_cli do to a
// server, checked. Run against our servers (greeter, interop_server) and
// against gRPC C++ with its reflection plugin (grpc_cpp_interop_server), with
// the same checks, so the answers are shown to have the same shape.
//
//   reflection_client --server_host=H --server_port=P --service=pkg.Svc
//       --method=M --input=pkg.In --output=pkg.Out [--versions=v1,v1alpha]
//       [--use_tls=true --ca_file=F --server_host_override=N]
//
// For each version, on one ServerReflectionInfo stream: list_services has
// the service and the reflection service; the file containing the service
// comes with its imports, so that protobuf's DescriptorPool builds it and
// finds the method with its input and output types; the same file by name,
// by the method's and the input's names; the reflection service describes
// itself (a bidi method); unknown symbols and files get NOT_FOUND, extension
// requests gRPC C++'s answers for proto3; every response echoes its request.
// Prints a line per check and "N passed, M failed"; exits 1 on a failure.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptorProto;
using google::protobuf::SimpleDescriptorDatabase;
using google::protobuf::util::MessageDifferencer;

namespace {

struct Options {
  std::string host = "127.0.0.1", port, service, method, input, output;
  std::string versions = "v1,v1alpha", ca_file, host_override;
  bool tls = false;
};

int passed, failed;

void Check(bool ok, const std::string& version, const std::string& what) {
  std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", version.c_str(), what.c_str());
  (ok ? passed : failed)++;
}

// The checks, for either version's generated types (the same messages).
template <class Service, class Request, class Response>
class Checker {
 public:
  Checker(std::shared_ptr<grpc::Channel> channel, std::string version, const Options& o)
      : stub_(Service::NewStub(channel)), version_(std::move(version)), o_(o) {}

  void Run() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stream_ = stub_->ServerReflectionInfo(&ctx);
    ListServices();
    std::string file = DescribeService();
    if (!file.empty()) {
      Request by_name = NewRequest();
      by_name.set_file_by_filename(file);
      Check(HasFile(Ask(by_name), file), version_, "file_by_filename " + file);
      for (const std::string& symbol : {o_.service + "." + o_.method, o_.input}) {
        Request r = NewRequest();
        r.set_file_containing_symbol(symbol);
        std::string want = pool_.FindFileContainingSymbol(symbol)
                               ? pool_.FindFileContainingSymbol(symbol)->name()
                               : "?";
        Check(HasFile(Ask(r), want), version_, "file_containing_symbol " + symbol + ": " + want);
      }
    }
    DescribeReflection();
    NotFound();
    Extensions();
    stream_->WritesDone();
    grpc::Status st = stream_->Finish();
    Check(st.ok(), version_, "the stream ends OK (" + st.error_message() + ")");
  }

 private:
  Request NewRequest() {
    Request r;
    r.set_host("reflection-client");
    return r;
  }

  // One request, one response, which must echo the request.
  Response Ask(const Request& req) {
    Response resp;
    if (!stream_->Write(req) || !stream_->Read(&resp)) {
      Check(false, version_, "a response to " + req.ShortDebugString());
      return resp;
    }
    bool echoed = resp.valid_host() == req.host() &&
                  MessageDifferencer::Equals(resp.original_request(), req);
    if (!echoed) Check(false, version_, "the request echoed in " + resp.ShortDebugString());
    return resp;
  }

  void ListServices() {
    Request r = NewRequest();
    r.set_list_services("");
    Response resp = Ask(r);
    bool service = false, reflection = false;
    for (const auto& s : resp.list_services_response().service()) {
      service |= s.name() == o_.service;
      reflection |= s.name() == "grpc.reflection." + version_ + ".ServerReflection";
    }
    Check(resp.has_list_services_response() && service && reflection, version_,
          "list_services has " + o_.service + " and the reflection service (" +
              std::to_string(resp.list_services_response().service_size()) + " services)");
  }

  // Whether `resp` answers with files, one of them `name`.
  static bool HasFile(const Response& resp, const std::string& name) {
    for (const std::string& bytes : resp.file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto f;
      if (f.ParseFromString(bytes) && f.name() == name) return true;
    }
    return false;
  }

  // Fetches the file defining `symbol` into the stream's database, as tools
  // do: a file already there is skipped, since a server may send a file
  // again (gRPC C++ 1.51 repeats those of earlier answers) or, as the
  // protocol allows, not again. Then the pool must build the symbol's file
  // from what came. Returns that file's name ("" on failure).
  std::string BuildFileOf(const std::string& symbol) {
    Request r = NewRequest();
    r.set_file_containing_symbol(symbol);
    Response resp = Ask(r);
    int n = resp.file_descriptor_response().file_descriptor_proto_size();
    for (const std::string& bytes : resp.file_descriptor_response().file_descriptor_proto()) {
      FileDescriptorProto f, known;
      if (!f.ParseFromString(bytes) ||
          (!db_.FindFileByName(f.name(), &known) && !db_.Add(f))) {
        Check(false, version_, "a FileDescriptorProto in the answer for " + symbol);
        return "";
      }
    }
    const auto* file = pool_.FindFileContainingSymbol(symbol);
    Check(file && n > 0, version_,
          "file_containing_symbol " + symbol + ": " + (file ? file->name() : "?") + ", " +
              std::to_string(n) + " files sent, build in a DescriptorPool");
    return file ? file->name() : "";
  }

  std::string DescribeService() {
    std::string file = BuildFileOf(o_.service);
    const auto* s = pool_.FindServiceByName(o_.service);
    if (file.empty() || !s) return "";
    const auto* m = s->FindMethodByName(o_.method);
    Check(m && m->input_type()->full_name() == o_.input &&
              m->output_type()->full_name() == o_.output,
          version_, o_.service + "." + o_.method + "(" + o_.input + ") returns " + o_.output);
    return file;
  }

  void DescribeReflection() {
    std::string name = "grpc.reflection." + version_ + ".ServerReflection";
    const auto* s = BuildFileOf(name).empty() ? nullptr : pool_.FindServiceByName(name);
    if (!s) return;
    const auto* m = s->FindMethodByName("ServerReflectionInfo");
    Check(m && m->client_streaming() && m->server_streaming(), version_,
          name + ".ServerReflectionInfo is bidirectional");
  }

  void ExpectError(const Request& r, int code, const std::string& message,
                   const std::string& what) {
    Response resp = Ask(r);
    Check(resp.has_error_response() && resp.error_response().error_code() == code &&
              resp.error_response().error_message() == message,
          version_, what + ": " + resp.error_response().ShortDebugString());
  }

  void NotFound() {
    Request r = NewRequest();
    r.set_file_containing_symbol("svc.no.Such");
    ExpectError(r, grpc::StatusCode::NOT_FOUND, "Symbol not found.", "unknown symbol");
    r = NewRequest();
    r.set_file_by_filename("no/such.proto");
    ExpectError(r, grpc::StatusCode::NOT_FOUND, "File not found.", "unknown file");
  }

  void Extensions() {
    Request r = NewRequest();
    r.set_all_extension_numbers_of_type(o_.input);
    Response resp = Ask(r);
    Check(resp.has_all_extension_numbers_response() &&
              resp.all_extension_numbers_response().base_type_name() == o_.input &&
              resp.all_extension_numbers_response().extension_number_size() == 0,
          version_, "all_extension_numbers_of_type " + o_.input + ": none");
    r = NewRequest();
    r.mutable_file_containing_extension()->set_containing_type(o_.input);
    r.mutable_file_containing_extension()->set_extension_number(1000);
    ExpectError(r, grpc::StatusCode::NOT_FOUND, "Extension not found.",
                "file_containing_extension " + o_.input + " 1000");
    r = NewRequest();
    r.set_all_extension_numbers_of_type("svc.no.Such");
    ExpectError(r, grpc::StatusCode::NOT_FOUND, "Type not found.", "extensions of an unknown type");
  }

  std::unique_ptr<typename Service::Stub> stub_;
  std::string version_;
  const Options& o_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
  SimpleDescriptorDatabase db_;       // every file the stream brought
  DescriptorPool pool_{&db_};
};

bool Flag(const char* arg, const char* name, std::string* out) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *out = arg + n + 1;
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string tls, v;
  for (int i = 1; i < argc; i++) {
    if (Flag(argv[i], "--server_host", &v)) o.host = v;
    else if (Flag(argv[i], "--server_port", &v)) o.port = v;
    else if (Flag(argv[i], "--service", &v)) o.service = v;
    else if (Flag(argv[i], "--method", &v)) o.method = v;
    else if (Flag(argv[i], "--input", &v)) o.input = v;
    else if (Flag(argv[i], "--output", &v)) o.output = v;
    else if (Flag(argv[i], "--versions", &v)) o.versions = v;
    else if (Flag(argv[i], "--use_tls", &v)) o.tls = v == "true";
    else if (Flag(argv[i], "--ca_file", &v)) o.ca_file = v;
    else if (Flag(argv[i], "--server_host_override", &v)) o.host_override = v;
    else {
      std::cerr << "usage: " << argv[0]
                << " --server_host=H --server_port=P --service=S --method=M --input=I"
                   " --output=O [--versions=v1,v1alpha] [--use_tls=true --ca_file=F"
                   " --server_host_override=N]\n";
      return 2;
    }
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  if (o.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(o.ca_file);
    creds = grpc::SslCredentials(ssl);
    if (!o.host_override.empty()) args.SetSslTargetNameOverride(o.host_override);
  }
  auto channel = grpc::CreateCustomChannel(o.host + ":" + o.port, creds, args);
  std::stringstream versions(o.versions);
  std::string version;
  while (std::getline(versions, version, ',')) {
    if (version == "v1") {
      namespace r = grpc::reflection::v1;
      Checker<r::ServerReflection, r::ServerReflectionRequest, r::ServerReflectionResponse>(
          channel, version, o)
          .Run();
    } else if (version == "v1alpha") {
      namespace r = grpc::reflection::v1alpha;
      Checker<r::ServerReflection, r::ServerReflectionRequest, r::ServerReflectionResponse>(
          channel, version, o)
          .Run();
    } else {
      Check(false, version, "a version this client knows");
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
