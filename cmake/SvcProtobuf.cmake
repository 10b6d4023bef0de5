# svc_protobuf_generate(<target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...]
#                       [DESCRIPTOR_SET <name>])
#
# Runs protoc-c on each .proto file, adds the generated .pb-c.c sources to
# <target> and puts the output folder on its include path, so code includes
# "<name>.pb-c.h". A file inside one of the IMPORT_DIRS is named relative to
# it, as its importers name it ("grpc/testing/empty.proto"), and its code is
# included the same way ("grpc/testing/empty.pb-c.h"). Works from the build
# tree and from an installed package.
#
# DESCRIPTOR_SET <name> also embeds the files' FileDescriptorProtos, with
# those of everything they import, in <target> as
# `const svc_pb_files <name>`, declared in "<name>.h" (svccomm/reflection.h):
# what svc_server_serve_reflection() describes the services with. protoc-c
# writes them in the same run as the code (--descriptor_set_out).
#
# svc_protobuf_descriptor_set(<target> <name> PROTOS <file.proto>...
#                             [IMPORT_DIRS <dir>...])
#
# The same embedded set without the C code, for files whose code comes from
# elsewhere.
find_program(SVC_PROTOC_C NAMES protoc-c protoc-gen-c REQUIRED)
# The script that turns the sets into C, next to this file when installed.
set(SVC_PROTOBUF_EMBED ${CMAKE_CURRENT_LIST_DIR}/SvcEmbedDescriptors.cmake)

# Runs protoc-c on each of PROTOS: C code when CODE, descriptor sets when
# SET names one.
function(_svc_protoc_c target)
  cmake_parse_arguments(ARG "CODE" "SET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_PROTOS)
    message(FATAL_ERROR "svc_protobuf_generate(${target}): no PROTOS given")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_pb)
  file(MAKE_DIRECTORY ${out_dir})
  set(sources)
  set(sets)
  set(roots)
  foreach(d IN LISTS ARG_IMPORT_DIRS)
    get_filename_component(d_abs ${d} ABSOLUTE)
    list(APPEND roots ${d_abs})
  endforeach()
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(name ${abs} NAME_WE)
    set(root ${dir})
    foreach(r IN LISTS roots)
      string(FIND "${abs}" "${r}/" at)
      if(at EQUAL 0)
        set(root ${r})
        break()
      endif()
    endforeach()
    file(RELATIVE_PATH rel ${root} ${dir})
    if(rel)
      set(name ${rel}/${name})
    endif()
    set(import_args --proto_path=${root})
    foreach(r IN LISTS roots)
      if(NOT r STREQUAL root)
        list(APPEND import_args --proto_path=${r})
      endif()
    endforeach()
    set(outputs)
    set(out_args)
    if(ARG_CODE)
      list(APPEND outputs ${out_dir}/${name}.pb-c.c ${out_dir}/${name}.pb-c.h)
      list(APPEND out_args --c_out=${out_dir})
      list(APPEND sources ${out_dir}/${name}.pb-c.c)
    endif()
    if(ARG_SET)
      set(fds ${out_dir}/${ARG_SET}_sets/${name}.fds)
      get_filename_component(fds_dir ${fds} DIRECTORY)
      file(MAKE_DIRECTORY ${fds_dir})
      list(APPEND outputs ${fds})
      list(APPEND out_args --descriptor_set_out=${fds} --include_imports)
      list(APPEND sets ${fds})
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${SVC_PROTOC_C} ${import_args} ${out_args} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${name}.proto"
      VERBATIM)
  endforeach()
  if(ARG_SET)
    # One set per file, concatenated: a FileDescriptorSet's only field is
    # repeated, so the concatenation is the set of them all (a file two of
    # them import comes twice; the reader keeps the first).
    add_custom_command(
      OUTPUT ${out_dir}/${ARG_SET}.c ${out_dir}/${ARG_SET}.h
      COMMAND ${CMAKE_COMMAND} -DNAME=${ARG_SET} -DOUT_DIR=${out_dir} "-DSETS=${sets}"
              -P ${SVC_PROTOBUF_EMBED}
      DEPENDS ${sets} ${SVC_PROTOBUF_EMBED}
      COMMENT "embedding descriptor set ${ARG_SET}"
      VERBATIM)
    list(APPEND sources ${out_dir}/${ARG_SET}.c)
  endif()
  target_sources(${target} PRIVATE ${sources})
  target_include_directories(${target} PUBLIC ${out_dir})
endfunction()

function(svc_protobuf_generate target)
  cmake_parse_arguments(ARG "" "DESCRIPTOR_SET" "PROTOS;IMPORT_DIRS" ${ARGN})
  _svc_protoc_c(${target} CODE SET "${ARG_DESCRIPTOR_SET}" PROTOS ${ARG_PROTOS}
                IMPORT_DIRS ${ARG_IMPORT_DIRS})
endfunction()

function(svc_protobuf_descriptor_set target name)
  cmake_parse_arguments(ARG "" "" "PROTOS;IMPORT_DIRS" ${ARGN})
  _svc_protoc_c(${target} SET ${name} PROTOS ${ARG_PROTOS} IMPORT_DIRS ${ARG_IMPORT_DIRS})
endfunction()
